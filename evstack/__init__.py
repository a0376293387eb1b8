"""evstack: a software stack for EV chargers.

One import namespace holds the whole project. The top-level folders of the
repository appear here as subpackages (``evstack.codegen``,
``evstack.generated``, ``evstack.modules``, ``evstack.ext``) so that nothing
with a generic name lands in site-packages.
"""

__version__ = "0.1.0"
