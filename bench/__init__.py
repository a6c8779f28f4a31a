"""Side-by-side benchmarks. They print ratios against targets; they never assert on timing."""
