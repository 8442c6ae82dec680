//! SoVITS v2 SynthesizerTrn (module/models.py) — (to be written)
