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
        # Lab results: enter and correct; read the catalogue and ranges.
        "labs.view_panel",
        "labs.add_panel",
        "labs.change_panel",
        "labs.view_result",
        "labs.add_result",
        "labs.change_result",
        "labs.view_analyte",
        "labs.view_analyteunit",
        "labs.view_referencerange",
        "labs.view_deltarule",
        "labs.view_specimencondition",
        # Guidance: review findings and keep follow-up plans; read explanations and rules.
        "guidance.view_finding",
        "guidance.add_finding",
        "guidance.change_finding",
        "guidance.view_followupplan",
        "guidance.add_followupplan",
        "guidance.change_followupplan",
        "guidance.view_topic",
        "guidance.view_rule",
        # Results from the laboratory: read the message log, match or reject held messages, upload files.
        "interfaces.view_inboundmessage",
        "interfaces.change_inboundmessage",
        "interfaces.add_inboundmessage",
        "interfaces.view_codemapping",
        # Their own uploads imported in the background, and their progress.
        "interfaces.view_importjob",
        "interfaces.add_importjob",
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
        # Lab results (read only) and the analyte catalogue and reference ranges they are read against.
        "labs.view_panel",
        "labs.view_result",
        "labs.view_analyte",
        "labs.add_analyte",
        "labs.change_analyte",
        "labs.view_analyteunit",
        "labs.add_analyteunit",
        "labs.change_analyteunit",
        "labs.view_referencerange",
        "labs.add_referencerange",
        "labs.change_referencerange",
        "labs.view_deltarule",
        "labs.add_deltarule",
        "labs.change_deltarule",
        "labs.view_specimencondition",
        "labs.add_specimencondition",
        "labs.change_specimencondition",
        # The export log (read only) and the cohort CSV of every patient's results.
        "exports.view_patientexport",
        # The access log (read only: nobody may change it) and its export for a period.
        "patients.view_accesslogentry",
        "exports.export_cohort",
        # Guidance: edit explanations and rules; findings and plans read only.
        "guidance.view_topic",
        "guidance.add_topic",
        "guidance.change_topic",
        "guidance.view_rule",
        "guidance.add_rule",
        "guidance.change_rule",
        "guidance.view_finding",
        "guidance.view_followupplan",
        # The record of each critical result's communication (read only), and the time allowed for it.
        "guidance.view_criticalcall",
        "guidance.view_reviewsettings",
        "guidance.change_reviewsettings",
        # The login lock-out's records, read only (config/admin.py): failed-login counters, the log of
        # every failed login, and the log of logins.
        "axes.view_accessattempt",
        "axes.view_accessfailurelog",
        "axes.view_accesslog",
        # Two-factor sign-in: see who has an authenticator app, and reset a lost one by deleting it.
        "otp_totp.view_totpdevice",
        "otp_totp.delete_totpdevice",
        # Results from the laboratory: read the message log (results are a clinician's to file) and keep
        # the local code mappings.
        "interfaces.view_inboundmessage",
        "interfaces.view_codemapping",
        "interfaces.add_codemapping",
        "interfaces.change_codemapping",
        "interfaces.delete_codemapping",
        # API client credentials: issue (add), read and revoke (change); never deleted.
        "api.view_apiclient",
        "api.add_apiclient",
        "api.change_apiclient",
        # Every user's uploads imported in the background (read only).
        "interfaces.view_importjob",
        "interfaces.view_every_importjob",
    ],
}
