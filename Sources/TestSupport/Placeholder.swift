// Placeholder so the target builds; replaced by the issue that builds TestSupport.
enum TestSupportPlaceholder {}
