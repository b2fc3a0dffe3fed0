// Package scenarios holds the ginkgo v2 suites that drive ibemu end to end:
// install, uninstall, failure and fabric scenarios, each spec on a fabric of
// its own. Suites live in subpackages by area; this package holds what they
// share. It sits at the top of the import graph and may import anything.
package scenarios
