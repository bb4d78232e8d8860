extension Array where Element == Float {
    /// `count` values left as the allocator gives them, for a buffer the next kernel overwrites
    /// entirely (a layer's output): no pass that writes zeros only to have them overwritten.
    init(overwrittenCount count: Int) {
        self.init(unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }
}
