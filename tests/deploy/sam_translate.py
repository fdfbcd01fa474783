"""Translate a SAM template into plain CloudFormation, offline, as `sam validate` does.

Run with the SAM CLI's own interpreter (tests/deploy/test_templates.py does):
``.tools/sam-venv/bin/python tests/deploy/sam_translate.py TEMPLATE > OUT.yaml``. The output is
what CloudFormation would deploy, so cfn-lint can check it for what only the expanded form
shows (circular dependencies, the generated role's policies).
"""

from __future__ import annotations

import sys
from pathlib import Path

from samcli.lib.translate.sam_template_validator import SamTemplateValidator
from samcli.yamlhelper import yaml_parse


class _NoManagedPolicies:
    """The templates name no managed policy by name, so no IAM lookup is needed."""

    def load(self) -> dict[str, str]:
        return {}


def main(path: str) -> int:
    template = yaml_parse(Path(path).read_text(encoding="utf-8"))
    validator = SamTemplateValidator(template, _NoManagedPolicies(), region="us-east-1")
    sys.stdout.write(validator.get_translated_template_if_valid())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
