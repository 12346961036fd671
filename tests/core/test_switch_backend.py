"""``storage migrate`` edits ``plugdesk.toml`` through tomlkit: only ``[storage] backend`` changes."""

from __future__ import annotations

import os
import tomllib

from core.files.fsck import switch_backend

CONFIG = '''# plugdesk configuration (comments survive)
[server]
base_url = "https://help.example.com"   # public URL

[storage]
# which blob store
backend = "fs"    # the default
other = 1

[plugins.storage_fs]
backend = "not this one"
'''


def test_only_the_backend_changes_and_comments_survive(tmp_path):
    path = tmp_path / "plugdesk.toml"
    path.write_text(CONFIG, encoding="utf-8")
    os.chmod(path, 0o640)
    assert switch_backend(path, "s3")
    text = path.read_text(encoding="utf-8")
    assert text == CONFIG.replace('backend = "fs"    # the default', 'backend = "s3"    # the default')
    assert tomllib.loads(text)["storage"] == {"backend": "s3", "other": 1}
    assert path.stat().st_mode & 0o777 == 0o640 and not (tmp_path / "plugdesk.toml.tmp").exists()


def test_a_missing_table_or_key_is_added(tmp_path):
    path = tmp_path / "plugdesk.toml"
    path.write_text('[server]\nport = 8080\n', encoding="utf-8")
    switch_backend(path, "s3")
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {"server": {"port": 8080}, "storage": {"backend": "s3"}}
    path.write_text('[storage]\n\n[captcha]\nprovider = "x"\n', encoding="utf-8")
    switch_backend(path, "fs")
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {"storage": {"backend": "fs"},
                                                                "captcha": {"provider": "x"}}


def test_inline_tables_and_odd_names_stay_valid_toml(tmp_path):
    path = tmp_path / "plugdesk.toml"
    path.write_text('storage = { backend = "fs" }\n', encoding="utf-8")
    switch_backend(path, 'we"ird\\name')
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {"storage": {"backend": 'we"ird\\name'}}
