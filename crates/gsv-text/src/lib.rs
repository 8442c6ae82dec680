//! GPT-SoVITS text frontend.
