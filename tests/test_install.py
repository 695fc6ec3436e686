"""The package imports from where it should: the wheel run of CI (`make test-wheel`) sets KGREASON_EXPECT_WHEEL."""

import os
from importlib.metadata import distribution

import pytest


def test_namespace_package_and_metadata():
    import kgreason
    import kgreason.kg

    assert not hasattr(kgreason, "__file__") or kgreason.__file__ is None  # namespace package: no root __init__
    assert distribution("kgreason").version


@pytest.mark.skipif(not os.environ.get("KGREASON_EXPECT_WHEEL"), reason="only in the wheel-install run")
def test_imported_from_the_installed_wheel():
    import kgreason.kg
    import kgreason.pipelines.cli

    assert "site-packages" in kgreason.kg.__file__ and "site-packages" in kgreason.pipelines.cli.__file__
    direct_url = distribution("kgreason").read_text("direct_url.json") or ""
    assert '"editable": true' not in direct_url
