import Testing

// Placeholder so the test target builds; replaced by its issue.
@Test func packageBuilds() {}
