"""Column types shared by every area's models."""
import sqlalchemy as sa


def value_enum(cls, length: int = 16) -> sa.Enum:
    """A Python enum stored as its values in a VARCHAR (no native database enum to migrate)."""
    return sa.Enum(cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])
