"""Synthesis: cassettes built from ``ev_*`` event builders (``rec.synth.events``) and scenarios
(``rec.synth.scenario``), with no recording at all."""
