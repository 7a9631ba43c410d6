"""The CPU's name and flags, read once for the logs, the benchmark and the shipped starts."""

from ma52lib.machine import bf16_support, cpu_info, cpu_name


def test_the_widest_bf16_relevant_isa_is_named() -> None:
    assert bf16_support({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}) == "AMX"
    assert bf16_support({"avx2", "avx512f", "avx512_bf16"}) == "AVX512-BF16"
    assert bf16_support({"avx2", "avx512f"}) == "AVX512"
    assert bf16_support({"avx2"}) == "AVX2" and bf16_support({"sse2"}) == ""


def test_this_machine_has_a_name() -> None:
    name, flags = cpu_info()
    assert name and name == cpu_name() and isinstance(flags, set)
