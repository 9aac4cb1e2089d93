"""rec's modules imported as installed, not assertion-rewritten by pytest.

pytest rewrites the asserts of every module in an installed plugin's distribution, so under
rec's plugin each pytest process (and each xdist worker) would parse and compile all of rec's
modules instead of loading their bytecode whenever it cannot keep its rewritten copies: with
``PYTHONDONTWRITEBYTECODE`` set, as many CI images do, or a read-only site-packages. That is
about 40 modules, some 1.1 billion instructions per process. rec's modules hold no assert a test
reads (a test's failures are rec's reports), so nothing is lost by importing them as installed.
"""

from __future__ import annotations

import sys

PACKAGES = ("rec", "recorder", "replayer")  # the distribution's packages ([tool.hatch.build.targets.wheel])


def import_as_installed() -> None:
    """Take rec's packages off pytest's list of modules to rewrite, before the plugin imports them.

    The list is pytest's own (``AssertionRewritingHook._must_rewrite``, there since pytest 3.0):
    if a pytest no longer has it, rec's modules are rewritten as before, which costs time only."""
    rewriting = sys.modules.get("_pytest.assertion.rewrite")
    hook_type = getattr(rewriting, "AssertionRewritingHook", None)
    for finder in sys.meta_path:
        if hook_type is None or not isinstance(finder, hook_type):
            continue
        marked = getattr(finder, "_must_rewrite", None)
        decided = getattr(finder, "_marked_for_rewrite_cache", None)
        if isinstance(marked, set):
            marked.difference_update(PACKAGES)
        if isinstance(decided, dict):
            decided.clear()  # the decisions it remembers for names already looked up
