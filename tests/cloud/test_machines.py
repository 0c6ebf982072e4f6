"""Machine type / accelerator compatibility."""

from __future__ import annotations

import pytest

from ddsp_launch.cloud.machines import Machine, check, parse_accelerator
from ddsp_launch.common.errors import InputError


@pytest.mark.parametrize("machine", [
    Machine("n1-standard-8", "NVIDIA_TESLA_T4", 1),
    Machine("n1-highmem-64", "NVIDIA_TESLA_T4", 4),
    Machine("n1-highcpu-32", "NVIDIA_TESLA_T4", 2),
    Machine("n1-standard-8", "NVIDIA_TESLA_V100", 1),
    Machine("a2-highgpu-2g", "NVIDIA_TESLA_A100", 2),
    Machine("g2-standard-8", "NVIDIA_L4", 1),
    Machine("g2-standard-24", "NVIDIA_L4", 2),
    Machine("n1-standard-4"),
    Machine("e2-standard-8"),
])
def test_offered_combinations_pass(machine):
    assert check(machine) is machine


@pytest.mark.parametrize("machine, message, fix", [
    (Machine("n1-standard-8", "NVIDIA_TESLA_K80", 1), "NVIDIA_TESLA_K80 cannot be used", "NVIDIA_TESLA_T4"),
    (Machine("n1-standard-8", "NVIDIA_TESLA_T4", 3), "3 x NVIDIA_TESLA_T4 is not offered", "1, 2, 4"),
    (Machine("n1-standard-32", "NVIDIA_TESLA_V100", 1), "n1-standard-32 has 32 vCPUs, more than 1 x NVIDIA_TESLA_V100 allows (12)", "smaller"),
    (Machine("e2-standard-8", "NVIDIA_TESLA_T4", 1), "NVIDIA_TESLA_T4 attaches only to N1 machines", "n1-standard-8"),
    (Machine("a2-highgpu-2g", "NVIDIA_TESLA_A100", 1), "a2-highgpu-2g takes exactly 2 x NVIDIA_TESLA_A100", "NVIDIA_TESLA_A100:2"),
    (Machine("n1-standard-8", "NVIDIA_L4", 1), "NVIDIA_L4 comes only with its own machine types", "g2-standard-8"),
    (Machine("a2-highgpu-1g"), "a2-highgpu-1g comes with 1 x NVIDIA_TESLA_A100", "--accelerator NVIDIA_TESLA_A100:1"),
    (Machine("n9-huge-8"), "unknown machine type 'n9-huge-8'", "n1-standard-8"),
    (Machine("n1-standard-8", "NVIDIA_TESLA_X", 1), "unknown accelerator type 'NVIDIA_TESLA_X'", "NVIDIA_TESLA_T4"),
])
def test_refused_combinations_say_why_and_what_to_do(machine, message, fix):
    with pytest.raises(InputError) as err:
        check(machine)
    assert message in err.value.message
    assert fix in (err.value.fix or "")


def test_parse_accelerator_takes_both_spellings():
    assert parse_accelerator("NVIDIA_TESLA_T4") == ("NVIDIA_TESLA_T4", 1)
    assert parse_accelerator("nvidia-tesla-t4:2") == ("NVIDIA_TESLA_T4", 2)
    assert parse_accelerator("none") == parse_accelerator("CPU") == parse_accelerator(None) == (None, 0)
    with pytest.raises(InputError, match="not a number"):
        parse_accelerator("NVIDIA_TESLA_T4:two")
