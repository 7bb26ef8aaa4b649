package server

import (
	"path/filepath"
	"testing"

	"imapd/imapworker/store"
	"imapd/imapworker/store/maildir"
)

// TestMaildirBackend runs the engine's transcript tests against the
// Maildir store, so that the engine and that store agree.
func TestMaildirBackend(t *testing.T) {
	old := newBackend
	defer func() { newBackend = old }()
	newBackend = func(tb testing.TB) store.Backend {
		dir := tb.TempDir()
		return maildir.NewBackend(func(user string) (string, error) {
			return filepath.Join(dir, user, "Maildir"), nil
		}, maildir.Options{})
	}
	for name, fn := range map[string]func(*testing.T){
		"ReadmeSession":        TestReadmeSession,
		"ListDefaults":         TestListDefaults,
		"CreateDeleteRename":   TestCreateDeleteRename,
		"RenameInbox":          TestRenameInbox,
		"SubscribeLsub":        TestSubscribeLsubListExtended,
		"ListStatusAndStatus":  TestListStatusAndStatus,
		"Append":               TestAppend,
		"FetchItems":           TestFetchItems,
		"FetchRev2":            TestFetchRev2,
		"Store":                TestStore,
		"ExpungeCloseUnselect": TestExpungeCloseUnselect,
		"CopyMove":             TestCopyMove,
		"Search":               TestSearch,
		"Sort":                 TestSort,
		"ESortPartial":         TestESortPartial,
		"Thread":               TestThread,
		"SearchAddresses":      TestSearchAddresses,
		"ContextUpdate":        TestContextUpdate,
		"TwoSessionsUpdates":   TestTwoSessionsUpdates,
		"Idle":                 TestIdle,
		"Converge":             TestConcurrentSessionsConverge,
		"OddCommandsSurvive":   TestOddCommandsSurvive,
		"GoIMAPClient":         TestGoIMAPClient,
		"PythonImaplib":        TestPythonImaplib,
		"OffHeapMessages":      TestOffHeapMessages,
	} {
		t.Run(name, fn)
	}
}
