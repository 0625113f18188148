"""The two package-scoped fixtures every emulator contract package starts from: one `python -m emulator`
process (no rate limit, no default webhook target, plus the package's own settings) and one local receiver
for what the emulator sends out. Each package's conftest adds how it resets them before a test."""
import pytest

from tests.emulator_process import EmulatorProcess, WebhookReceiver


def package_emulator_fixtures(env: dict[str, str], receiver_class=WebhookReceiver):
    @pytest.fixture(scope="package")
    def emulator():
        # no request log file: these packages send invalid requests on purpose (the spec tier checks the shop's)
        process = EmulatorProcess().start(env={"EMULATOR_RATE_LIMIT": "0", "EMULATOR_NEXT_WEBHOOK_TARGET": "",
                                               "EMULATOR_REQUEST_LOG_FILE": "", **env})
        yield process
        process.stop()

    @pytest.fixture(scope="package")
    def receiver_server():
        receiver = receiver_class()
        yield receiver
        receiver.stop()

    return emulator, receiver_server
