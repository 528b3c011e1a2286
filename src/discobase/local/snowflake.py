"""Discord snowflakes (re-exported from :mod:`discobase._discord.snowflakes`)."""

from discobase._discord.snowflakes import (
    DISCORD_EPOCH,
    MAX_ID,
    SnowflakeGenerator,
    coerce_snowflake,
    is_object_id,
    iso_timestamp,
    snowflake_at,
    snowflake_datetime,
    snowflake_ms,
)

__all__ = [
    "DISCORD_EPOCH",
    "MAX_ID",
    "SnowflakeGenerator",
    "coerce_snowflake",
    "is_object_id",
    "iso_timestamp",
    "snowflake_at",
    "snowflake_datetime",
    "snowflake_ms",
]
