"""The portal's roles. Groups with these names are created by a migration."""

DEVELOPERS = "Developers"
APPROVERS = "Approvers"
PLATFORM_ADMINS = "Platform Admins"

ALL_ROLES = (DEVELOPERS, APPROVERS, PLATFORM_ADMINS)
