"""The embedded broker never shows a worker a half-written message."""

import os
import uuid

from kombu import Connection

from portal.broker import Channel


def test_a_message_appears_in_the_queue_folder_only_when_whole(tmp_path, monkeypatch):
    folder = tmp_path / "queue"
    folder.mkdir()
    # A queue (and exchange) of its own: kombu keeps declared exchanges per process, and the
    # SQLite pass of the suite has published Celery's "default" queue in this process already.
    name = f"broker-test-{uuid.uuid4().hex[:8]}"
    seen_while_writing = []
    real_replace = os.replace

    def replace_and_look(source, target):
        # What a polling worker would find at this moment: no message of the queue yet.
        seen_while_writing.extend(entry for entry in os.listdir(folder) if entry.endswith(f".{name}.msg"))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_and_look)
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(tmp_path),
        "control_folder": str(tmp_path / "control"),
    }
    with Connection("filesystem://", transport_options=options) as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)  # the alias in portal/celery.py is in force
        queue = connection.SimpleQueue(name)
        queue.put({"approve": "x" * 200_000})
        assert seen_while_writing == []
        assert [entry for entry in os.listdir(folder) if entry.startswith(".partial")] == []
        written = sorted(os.listdir(folder))
        try:
            message = queue.get(timeout=10)
        except queue.Empty:
            raise AssertionError(f"nothing read back; the queue folder held {written}") from None
        assert message.payload == {"approve": "x" * 200_000}
        message.ack()
        queue.close()
