import XCTest

// Placeholder so the test target builds; replaced by its issue.
final class DetectionTestsPlaceholder: XCTestCase {
    func testPackageBuilds() {}
}
