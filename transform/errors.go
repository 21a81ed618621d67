package transform

import (
	"errors"
	"fmt"
)

// ParamError is a bad query parameter: the edge answers 400 naming Param.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string { return fmt.Sprintf("parameter %s: %s", e.Param, e.Message) }

func paramErr(param, format string, args ...any) error {
	return &ParamError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors; the edge maps each to its status.
var (
	ErrTooManyPixels = errors.New("transform: source has too many pixels")           // 422
	ErrTooManyFrames = errors.New("transform: source has too many frames")           // 422
	ErrUnsupported   = errors.New("transform: not an image this server can read")    // 415
	ErrCorruptImage  = errors.New("transform: the image is corrupt or truncated")    // 422
	ErrNotAnimated   = errors.New("transform: the source is not animated")           // 422
	ErrBusy          = errors.New("transform: too many transforms waiting")          // 503 + Retry-After
	ErrTimeout       = errors.New("transform: deadline exceeded")                    // 504
	ErrSignature     = errors.New("transform: missing or wrong signature")           // 403
	ErrAnimatedOp    = errors.New("transform: operation not supported on animation") // 422
)
