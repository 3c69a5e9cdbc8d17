"""The public names of the country modules: adding or removing one is a visible decision."""

from __future__ import annotations

import importlib

import pytest

SURFACES = {
    "connectors.countries.profiles": [
        "PROFILES_ENV", "PROFILE_FILE", "SHIPPED_DIR", "CalendarSpec", "PortalSpec",
        "ProcedureSpec", "Profile", "ProfileInvalid", "ProfileNotFound", "Profiles",
        "RecipientSpec", "default_profiles",
        "load_profile", "load_profiles", "parse_profile", "profile_dirs_from_env",
    ],
    "connectors.countries.workdays": ["is_working_day", "working_days_between"],
    "connectors.portal.mapping": [
        "FORM_ID_NAMESPACE", "UNMAPPED_HEADING", "FieldRule", "FormInvalid", "MappingInvalid",
        "PortalMapping", "Vocabulary", "load_mapping", "map_form", "mapping_for", "report_paths",
    ],
    "connectors.readings.translations": [
        "CATALOGUE_DIR", "CODE_CONTEXTS", "UI_MESSAGES", "Catalogue", "LocaleUnsupported",
        "available_locales", "catalogue", "required_messages",
    ],
    "connectors.readings.render": [
        "ReportView", "Row", "Section", "build_view", "render_html", "render_text", "visible",
    ],
    "connectors.readings.pdf": ["render_pdf"],
    "connectors.portal.submit": ["Submitted", "submit_form", "submit_report"],
    "connectors.recipient.readable": ["Reading", "reading_for", "render_stored"],
    "connectors.recipient.onboard": [
        "CREDENTIAL_FILE", "HUB_TRUST_FILE", "PASSPHRASE_FILE", "MemberSetup", "RecipientSetup",
        "init_member",
    ],
    "connectors.cli.countries": [
        "ProfilesOption", "register_country_commands", "selected_profiles",
    ],
    "hub.onboarding.member": [
        "ONBOARDING_SOURCE", "REGISTRATION_FILE", "REGISTRATION_FORMAT", "TEST_RULE", "Issued",
        "OnboardingPacket", "RegisteredPortal", "RegisteredRecipient", "Registration",
        "onboarding_deliveries", "read_registration", "read_registration_profile",
        "register_recipients",
        "send_onboarding_packet",
    ],
    "hub.cli.onboarding": ["recipients_app"],
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(SURFACES))
def test_each_country_module_exports_exactly_its_public_names(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(SURFACES[module_name])
    for name in module.__all__:
        assert hasattr(module, name), name
