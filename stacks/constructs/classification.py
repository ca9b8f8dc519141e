"""P2: every data store carries a `data-classification` tag with one of two values.

The tag key and the values are the runtime's (runtime/contract.py), re-exported here for the stacks."""

from aws_cdk import Tags
from constructs import IConstruct

from runtime.contract import CLASSIFICATION_TAG, DataClass

__all__ = ["CLASSIFICATION_TAG", "DataClass", "classify"]


def classify(store: IConstruct, data_class: DataClass) -> None:
    """Tag `store` (and every taggable resource below it) with its data class."""
    Tags.of(store).add(CLASSIFICATION_TAG, data_class.value)
