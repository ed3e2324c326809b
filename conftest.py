"""Root conftest: the acceptance suite's fixtures live in fixtures/ and are loaded as plugins.

fixtures.options   --device/--window/--host/--docker-url/--mqtt-url/--keep-sim, the profile, the simulator
fixtures.evidence  the evidence store, measure, attach
fixtures.breakage  labgrid-style breakage: the first test that meets a broken link fails, later ones skip
fixtures.rig_fixtures  the session's rig (fixtures.rig: links, recorders, background jobs in fixtures.background)
                   and its fixtures: host, device, docker_client, agent_container, mqtt_recorder, telemetry, ...
fixtures.plan      the runbook path (plan), decided from Task 2's evidence
fixtures.project_files the project files and data the later tasks read on the device
fixtures.gpu_use   GPU-use evidence: the agent's own processes among the GPU's users
fixtures.remediate --allow-changes/--keep-changes and `remedy`: runbook steps applied, backed up, restored
fixtures.lease     the device lease: shared for read-only runs, exclusive for remediation (jetson_hil.lease)
fixtures.watchdog  a device that stops answering ends the run; broker gaps become evidence
fixtures.redaction the device env file's hidden values scrubbed from every report file
fixtures.ci_figures measurements as JUnit test properties; device facts as JUnit suite properties and
                   pytest-html's Environment rows
"""

pytest_plugins: list[str] = [
    "fixtures.options",
    "fixtures.evidence",
    "fixtures.breakage",
    "fixtures.rig_fixtures",
    "fixtures.plan",
    "fixtures.project_files",
    "fixtures.report",
    "fixtures.redaction",
    "fixtures.ci_figures",
    "fixtures.gpu_use",
    "fixtures.remediate",
    "fixtures.lease",
    "fixtures.watchdog",
]
