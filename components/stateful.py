"""Resource options for stateful resources, decided once for every component.

In a long-lived (platform) stack, resources that hold data (buckets, keys, repositories,
tables) are protected, so `pulumi destroy` or a refactor cannot delete them, and retained on
delete, so removing them from the program leaves the data in AWS. Their settings resources
(encryption, versioning, public-access block ...) are retained too: deleting them would leave a
retained bucket unencrypted or public. Experiment stacks are short-lived: nothing is protected.
"""

from __future__ import annotations

import pulumi


def stateful_options(long_lived: bool, *, parent: pulumi.Resource) -> pulumi.ResourceOptions:
    """Options for a resource that holds data: protected and retained in long-lived stacks."""
    return pulumi.ResourceOptions(parent=parent, protect=long_lived, retain_on_delete=long_lived)


def settings_options(long_lived: bool, *, parent: pulumi.Resource) -> pulumi.ResourceOptions:
    """Options for a setting of a data resource: retained with it in long-lived stacks."""
    return pulumi.ResourceOptions(parent=parent, retain_on_delete=long_lived)
