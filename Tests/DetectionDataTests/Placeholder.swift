import XCTest

// Placeholder so the test target builds; replaced by its issue.
final class DetectionDataTestsPlaceholder: XCTestCase {
    func testPackageBuilds() {}
}
