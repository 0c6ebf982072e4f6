"""common/gin_rules: what gin from a page, a config file or a model folder may say, decided by
gin's own parser. The operative config in tests/data is one ddsp 3.7.0 wrote here (its
training run's, with the data path shortened): it has imports, macros, @references and
continued lines, and passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddsp_launch.common import gin_rules
from ddsp_launch.common.errors import InputError

OPERATIVE = Path(__file__).parent / "data" / "operative_config-ddsp-3.7.0.gin"

ATTACKS = [
    ("import os", "imports run code"),
    ("import ddsp_launch_marker", "imports run code"),
    ("from ddsp import training", "imports run code"),
    ("from __gin__ import dynamic_registration", "dynamic registration"),
    ("Autoencoder.decoder = @os.system()", "os.system is not one of ddsp's configurables"),
    ("get_model.model = [1, {'k': @subprocess.run}]", "subprocess.run is not one of ddsp's configurables"),
    ("os.system.command = 'touch /tmp/x'", "os.system is not one of ddsp's configurables"),
    ("include '/tmp/evil.gin'", "include reads another"),
    ("Harmonic:\n  n_samples = 4\n", "binding blocks"),
    ("evil = @synths.Harmonic()", "a macro must be a literal"),
    ("Harmonic.name = b'bytes'", "b'bytes' is not a number, string, boolean or None"),
]


def test_a_real_operative_config_passes():
    text = OPERATIVE.read_text()
    assert text.startswith("import ddsp\nimport ddsp.training as ddsp2\n") and "%learning_rate" in text and "\\\n" in text
    assert gin_rules.check_file(OPERATIVE) == text


@pytest.mark.parametrize("line, why", ATTACKS)
def test_each_refused_statement_is_named_with_the_reason(line, why):
    text = OPERATIVE.read_text() + "\n" + line + "\n"
    with pytest.raises(InputError) as exc:
        gin_rules.check_text(text, "MODEL/operative_config-0.gin")
    first_line = line.splitlines()[0]
    assert "MODEL/operative_config-0.gin: gin refused" in exc.value.message
    assert f"{first_line}  ({why}" in exc.value.message
    assert "Configurable.param = value" in exc.value.fix


def test_every_refusal_is_listed_and_nothing_is_imported():
    text = "from __gin__ import dynamic_registration\nimport ddsp_launch_marker_never\nHarmonic.x = @ddsp_launch_marker_never.f()\n"
    with pytest.raises(InputError) as exc:
        gin_rules.check_text(text, "cfg")
    assert [line.split(":")[0] for line in exc.value.message.splitlines()[1:]] == ["  line 1", "  line 2", "  line 3"]
    import sys

    assert "ddsp_launch_marker_never" not in sys.modules


@pytest.mark.parametrize("binding", [
    "RnnFcDecoder.rnn_channels = 256", "batch_size = 16", "train_data/TFRecordProvider.file_pattern = 'x/*'",
    "Autoencoder.losses = [@losses.SpectralLoss(), @ddsp.losses.SpectralLoss()]", "Trainer.learning_rate = %learning_rate",
    "ProcessorGroup.dag = [(@synths.Harmonic(), ['amps']), (@tf.keras.layers.Dense(), ['x'])]",
])
def test_plain_bindings_pass(binding):
    assert gin_rules.check_binding(binding, "the page") == binding


@pytest.mark.parametrize("binding, why", [
    ("import os", "imports run code"),
    ("Harmonic.name = 'x'\nimport os", "one line"),
    ("Harmonic.name = 'x'\rimport os", "one line"),
    ("Harmonic.name = 'a' # import os", "without '#'"),
    ("Harmonic.name = '#'", "without '#'"),
    ("Harmonic.name = 'x'; import os", "is not valid gin"),
    ("Harmonic.name = (\n'x')", "one line"),
    ("Autoencoder.decoder = @os.system()", "os.system is not one of ddsp's configurables"),
])
def test_single_bindings_are_one_plain_line(binding, why):
    with pytest.raises(InputError, match="the page: gin binding") as exc:
        gin_rules.check_binding(binding, "the page")
    assert why in exc.value.message


@pytest.mark.slow  # ddsp's own gin files
def test_gin_files_are_ddsps_own_or_pass_the_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert gin_rules.ddsp_gin_dir() is not None, "the test environment has ddsp installed"
    assert gin_rules.check_gin_file("models/solo_instrument.gin", "cfg") == "models/solo_instrument.gin"
    clean = tmp_path / "mine.gin"
    clean.write_text("RnnFcDecoder.rnn_channels = 64\n")
    assert gin_rules.check_gin_file(str(clean), "cfg") == str(clean)
    for name in ("models/no_such.gin", "../x.gin", "gs://bucket/x.gin", "/no/such.gin", "models/solo_instrument"):
        with pytest.raises(InputError, match="neither a local file nor one of ddsp's bundled gin files"):
            gin_rules.check_gin_file(name, "cfg")
    evil = tmp_path / "evil.gin"
    evil.write_text("import os\n")
    with pytest.raises(InputError, match=r"cfg: gin file .*evil.gin: gin refused:\n  line 1: import os"):
        gin_rules.check_gin_file(str(evil), "cfg")
    # a file in the working folder shadows ddsp's of the same name (gin reads it first): it is checked
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "solo_instrument.gin").write_text("import os\n")
    with pytest.raises(InputError, match="gin refused"):
        gin_rules.check_gin_file("models/solo_instrument.gin", "cfg")
