// Placeholder so the target builds; replaced by the issue that builds Detection.
enum DetectionPlaceholder {}
