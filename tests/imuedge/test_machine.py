"""imuedge.machine: the one description of what a measurement ran on."""
from imuedge.machine import cpu_flags, describe, machine


def test_cpu_flags_names_what_decides_int8_speed_and_what_is_missing(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 fma avx512f avx512bw\n")
    assert cpu_flags(str(x86)) == ["avx2", "fma", "avx512f", "no avx512_vnni", "no avx_vnni"]
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp i8mm\n")
    assert cpu_flags(str(arm)) == ["asimddp", "i8mm"]  # no x86 "no ..." list on ARM
    assert cpu_flags(str(tmp_path / "missing")) == []


def test_describe_gives_cpu_flags_cores_and_load_in_one_line():
    m = {"cpu": "AMD EPYC", "cpu_flags": ["avx2", "no avx512_vnni"], "cores": 2, "usable_cores": 1,
         "platform": "Linux-x", "python": "3.11.7", "load_average_at_start": [1.5, 2.25, 3.0]}
    assert describe(m) == ("AMD EPYC (avx2, no avx512_vnni), 2 logical cores (1 usable), Linux-x, Python 3.11.7; "
                           "load average at start 1.50, 2.25, 3.00")
    old = {"cpu": "AMD EPYC", "cores": 2, "platform": "Linux-x", "python": "3.11.7"}  # an older result's machine
    assert describe(old) == "AMD EPYC, 2 logical cores, Linux-x, Python 3.11.7"
    here = machine(("numpy",))
    assert here["cpu_flags"] == cpu_flags() and "load average at start" in describe(here)
