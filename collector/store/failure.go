package store

import (
	"errors"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Failure says what a failed Insert means for its rows, so that the caller can choose between retrying, re-running
// the migrations, setting rows aside and asking an operator (the policy is in package consume's doc).
type Failure int

const (
	// Transient: the server or the network; the same rows may pass later.
	Transient Failure = iota
	// Rejected: the server refused rows of the batch for good (a value it cannot parse or convert, or more
	// partitions than one INSERT may touch). A smaller batch may pass; a single row that still fails is set aside.
	Rejected
	// Missing: a table, a column or the database does not exist (dropped by hand, or never migrated). Re-running
	// the migrations heals it.
	Missing
	// Refused: credentials, permissions or a statement the server cannot run. Retrying alone will not heal it, and
	// no row is to blame: an operator must act.
	Refused
)

func (f Failure) String() string {
	switch f {
	case Transient:
		return "transient"
	case Rejected:
		return "rejected"
	case Missing:
		return "missing"
	case Refused:
		return "refused"
	}
	return "unknown"
}

// ClickHouse error codes (src/Common/ErrorCodes.cpp), the same on 18.16 and modern servers.
const (
	codeNoSuchColumn    = 16
	codeIllegalColumn   = 44 // e.g. "Cannot add column …: column with this name already exists"
	codeUnknownTable    = 60
	codeUnknownDatabase = 81
	codeTooManyParts    = 252 // also "too many partitions for a single INSERT block"
	codeTableExists     = 57
	codeDatabaseExists  = 82
	codeTableIsDropped  = 218 // a table another statement is dropping right now
	codeUnknownIdent    = 47  // a view read by its old definition while another migrator replaces it
)

// rowCodes are refusals caused by the values in the rows.
var rowCodes = map[int32]bool{
	6:   true, // CANNOT_PARSE_TEXT
	26:  true, // CANNOT_PARSE_QUOTED_STRING
	27:  true, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
	38:  true, // CANNOT_PARSE_DATE
	41:  true, // CANNOT_PARSE_DATETIME
	53:  true, // TYPE_MISMATCH
	69:  true, // ARGUMENT_OUT_OF_BOUND
	70:  true, // CANNOT_CONVERT_TYPE
	72:  true, // CANNOT_PARSE_NUMBER
	117: true, // INCORRECT_DATA
	131: true, // TOO_LARGE_STRING_SIZE
	321: true, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
}

// refusedCodes need an operator: nothing about the rows or the time will change them.
var refusedCodes = map[int32]bool{
	62:  true, // SYNTAX_ERROR
	47:  true, // UNKNOWN_IDENTIFIER
	164: true, // READONLY
	192: true, // UNKNOWN_USER
	193: true, // WRONG_PASSWORD
	194: true, // REQUIRED_PASSWORD
	497: true, // ACCESS_DENIED
	516: true, // AUTHENTICATION_FAILED
}

// rollupError marks a failure of the rollup recomputation after an insert, which concerns no row in particular: such
// a failure is never Rejected.
type rollupError struct{ err error }

func (e rollupError) Error() string { return e.err.Error() }
func (e rollupError) Unwrap() error { return e.err }

// Classify says what err, returned by Insert, means for the rows (see Failure). Errors that are not ClickHouse
// exceptions are network trouble: Transient.
func Classify(err error) Failure {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return Transient
	}
	switch {
	case ex.Code == codeUnknownTable || ex.Code == codeUnknownDatabase || ex.Code == codeNoSuchColumn:
		return Missing
	case refusedCodes[ex.Code]:
		return Refused
	case rowCodes[ex.Code] || ex.Code == codeTooManyParts:
		if errors.As(err, new(rollupError)) {
			return Refused
		}
		return Rejected
	}
	return Transient
}

// IsTooManyParts tells the refusal that a single row can also meet, when merges lag behind inserts: it heals with
// time, so a batch of one row that meets it is retried, not set aside.
func IsTooManyParts(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == codeTooManyParts
}

// Reason is the server's own message for err (what is missing, what was refused), or err's text.
func Reason(err error) string {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return ex.Message
	}
	return err.Error()
}
