"""Order of the examples in the gallery: from first steps to variants."""

from pathlib import Path

# Examples not listed here come after these, by file name.
ORDER = [
    "plot_reconstruction.py",
    "plot_2d_codes.py",
    "plot_grid_search_n_components.py",
    "plot_classifier_pipeline.py",
    "plot_denoising.py",
    "plot_anomaly_detection.py",
    "plot_vae_samples.py",
]


class GalleryOrder:
    """Sort key for sphinx-gallery's ``within_subsection_order``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        rank = ORDER.index(name) if name in ORDER else len(ORDER)
        return (rank, name)

    def __repr__(self):
        return f"<{type(self).__name__}>"
