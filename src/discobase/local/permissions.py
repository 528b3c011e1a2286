"""Discord's permission bits and computation (re-exported from :mod:`discobase._discord.permissions`)."""

from discobase._discord.permissions import (
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Overwrite,
    Permission,
    compute_permissions,
)

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "Overwrite",
    "Permission",
    "compute_permissions",
]
