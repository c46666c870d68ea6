"""Pulumi ComponentResources of mlenv, one per module; type tokens ``mlenv:<area>:<Name>``."""
