"""The embedded broker never shows a worker a half-written message."""

import os

from kombu import Connection

from portal.broker import Channel


def test_a_message_appears_in_the_queue_folder_only_when_whole(tmp_path, monkeypatch):
    folder = tmp_path / "queue"
    folder.mkdir()
    seen_while_writing = []
    real_replace = os.replace

    def replace_and_look(source, target):
        # What a polling worker would find at this moment: no message of the queue yet.
        seen_while_writing.extend(name for name in os.listdir(folder) if name.endswith(".default.msg"))
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
        queue = connection.SimpleQueue("default")
        queue.put({"approve": "x" * 200_000})
        assert seen_while_writing == []
        assert [name for name in os.listdir(folder) if name.startswith(".partial")] == []
        message = queue.get(timeout=2)
        assert message.payload == {"approve": "x" * 200_000}
        message.ack()
        queue.close()
