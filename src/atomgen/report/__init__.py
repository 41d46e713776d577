"""HTML reports a person can look at: a sample's metrics beside its reference's data row, plots of its
distributions, a gallery with 3D views (`write_samples_report`, `atomgen report`), and a training run's curves
(`write_run_report`)."""

from atomgen.report.samples import samples_page, samples_section, write_report_html, write_samples_report

__all__ = ["samples_page", "samples_section", "write_report_html", "write_samples_report"]
