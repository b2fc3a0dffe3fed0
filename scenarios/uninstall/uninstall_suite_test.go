// Package uninstall_test is the uninstall scenario suite: removal from
// the product entry and by product code, the reboot, NODRV, and the
// troubleshooting cases of the release notes (SRP disks, the InfiniBand
// Fabric device, leftover driver store folders, ibscan and ibcleanup).
package uninstall_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/ibemu/ibemu/scenarios"
)

func TestUninstall(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Uninstall Suite")
}

var _ = BeforeSuite(SuiteSetup)
