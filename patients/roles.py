"""The two roles and their permissions, applied by `manage.py setup_roles` (idempotent).

Permissions are named "app_label.codename". Apps add their models' permissions here as they land.
"""

CLINICIAN = "Clinician"
ADMINISTRATOR = "Administrator"

ROLE_PERMISSIONS = {
    CLINICIAN: [
        "patients.view_patient",
        "patients.add_patient",
        "patients.change_patient",
        "patients.view_contributingfactor",
    ],
    ADMINISTRATOR: [
        # Users and their roles.
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        # The patient registry: view, deactivate, see history; contributing factor list.
        "patients.view_patient",
        "patients.change_patient",
        "patients.view_contributingfactor",
        "patients.add_contributingfactor",
        "patients.change_contributingfactor",
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
    ],
}
