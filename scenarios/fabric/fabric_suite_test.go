// Package fabric_test is the fabric failure suite: link flaps, MAD loss,
// nodes killed and revived, and the subnet manager (the host's OpenSM
// service) killed and restarted, each checked by discovery and by the
// hosts' view of their ports.
package fabric_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/ibemu/ibemu/scenarios"
)

func TestFabric(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Fabric Suite")
}

var _ = BeforeSuite(SuiteSetup)
