"""P2: every data store carries a `data-classification` tag with one of two values."""

from enum import Enum

from aws_cdk import Tags
from constructs import IConstruct

CLASSIFICATION_TAG = "data-classification"


class DataClass(Enum):
    SENSITIVE = "sensitive"
    NOT_SENSITIVE = "not-sensitive"


def classify(store: IConstruct, data_class: DataClass) -> None:
    """Tag `store` (and every taggable resource below it) with its data class."""
    Tags.of(store).add(CLASSIFICATION_TAG, data_class.value)
