"""The images package's exception hierarchy.

Every error carries the message a user needs to act (what was asked for, what exists, how to fix it)
and the CLI exit code that reports it. ``PackerError`` (the packer wrapper) joins this hierarchy as
another ``ImagesError`` subclass. ``ImagesError`` is the images branch of ``stacks.errors.MlenvError``.
"""

from __future__ import annotations

from stacks.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, MlenvError


class ImagesError(MlenvError):
    """Base of every error the images package reports to a user; ``str(error)`` is the whole message.

    ``exit_code`` is what a CLI exits with: 2 (bad input) unless a subclass says otherwise.
    """

    exit_code: int = EXIT_BAD_INPUT


class CatalogError(ImagesError):
    """The image catalog or the instance-type data is invalid, or a lookup names something they lack."""


class InstanceTypesRefreshError(ImagesError):
    """EC2's instance-type data could not be fetched (credentials, network, API error).

    An environment problem rather than bad input, hence exit code 1.
    """

    exit_code = EXIT_INTERNAL


class CompatError(ImagesError):
    """A compatibility lookup names a GPU model or CUDA version the tables in images/compat.py lack."""


class BuildSpecError(ImagesError):
    """An image build spec (images/builds/*.yaml) is invalid or conflicts with the catalog."""


class PackerError(ImagesError):
    """Running ``packer`` failed: binary missing, timed out, or exited non-zero.

    The message quotes the command and the last lines of its output. Exit code 1: the input was
    accepted, the tool or the build failed.
    """

    exit_code = EXIT_INTERNAL
