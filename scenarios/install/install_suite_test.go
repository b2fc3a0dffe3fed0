// Package install_test is the install scenario suite: WinOF installs on
// emulated hosts, their features per OS, firmware policy, the OpenSM
// service on a live fabric and the release notes' command lines.
package install_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/ibemu/ibemu/scenarios"
)

func TestInstall(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Install Suite")
}

var _ = BeforeSuite(SuiteSetup)
