from runtime import settings

# Constants that are values of a variable, not variable names: defaults, and the auth modes.
VALUE_PREFIXES = ("DEFAULT_", "AUTH_MODE_")


def _names() -> dict[str, str]:
    return {k: v for k, v in vars(settings).items() if k.isupper() and not k.startswith(VALUE_PREFIXES)}


def test_settings_variable_names_are_prefixed_and_unique() -> None:
    names = _names()
    assert names, "settings declares no environment variables"
    assert all(v.startswith("PLATFORM_") for v in names.values())
    assert len(set(names.values())) == len(names)


def test_settings_constant_name_matches_variable_name() -> None:
    # SERVICE_PORT -> PLATFORM_SERVICE_PORT: one name to grep for on both sides.
    assert all(v == f"PLATFORM_{k}" for k, v in _names().items())


def test_settings_auth_mode_values_are_distinct_and_the_default_is_one() -> None:
    modes = {v for k, v in vars(settings).items() if k.startswith("AUTH_MODE_")}
    assert modes == {"alb-oidc", "bearer-jwt", "alb-oidc+bearer-jwt"}
    assert settings.DEFAULT_AUTH_MODE in modes
