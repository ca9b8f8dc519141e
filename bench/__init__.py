"""Benchmarks of the runtime (`make bench`): each figure printed as `name: value`.

Baselines are measured in the same run, interleaved with our own measurements, and every
figure is the median of several repetitions. Benchmarks are not timed tests: they assert nothing.
"""
