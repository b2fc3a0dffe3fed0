#include "textflag.h"

// func vcrcFoldCLMUL(b []byte, init uint64, k *[4]uint64) (lo, hi uint64)
//
// Folds b (len a multiple of 16, at least 64) into one 16-byte block whose
// CRC-16 equals that of b, using carry-less multiplication. init is XORed
// into the first eight bytes. k holds the reflected fold constants: k[0],
// k[1] fold by 64 bytes, k[2], k[3] by 16 bytes (low, high qword). The
// derivation is in crc_amd64.go.
TEXT ·vcrcFoldCLMUL(SB), NOSPLIT, $0-56
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	MOVQ init+24(FP), AX
	MOVQ k+32(FP), DX

	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	MOVQ  AX, X5
	PXOR  X5, X0
	ADDQ  $64, SI
	SUBQ  $64, CX

	MOVOU 0(DX), X4
	CMPQ  CX, $64
	JB    reduce

loop64:
	MOVOA X0, X5
	MOVOA X1, X6
	MOVOA X2, X7
	MOVOA X3, X8
	PCLMULQDQ $0x00, X4, X0
	PCLMULQDQ $0x00, X4, X1
	PCLMULQDQ $0x00, X4, X2
	PCLMULQDQ $0x00, X4, X3
	MOVOU 0(SI), X9
	MOVOU 16(SI), X10
	MOVOU 32(SI), X11
	MOVOU 48(SI), X12
	PCLMULQDQ $0x11, X4, X5
	PCLMULQDQ $0x11, X4, X6
	PCLMULQDQ $0x11, X4, X7
	PCLMULQDQ $0x11, X4, X8
	PXOR X5, X0
	PXOR X6, X1
	PXOR X7, X2
	PXOR X8, X3
	PXOR X9, X0
	PXOR X10, X1
	PXOR X11, X2
	PXOR X12, X3
	ADDQ $64, SI
	SUBQ $64, CX
	CMPQ CX, $64
	JAE  loop64

reduce:
	// Fold the four lanes into X3, 16 bytes at a time.
	MOVOU 16(DX), X4
	MOVOA X0, X5
	PCLMULQDQ $0x00, X4, X0
	PCLMULQDQ $0x11, X4, X5
	PXOR X5, X0
	PXOR X0, X1
	MOVOA X1, X5
	PCLMULQDQ $0x00, X4, X1
	PCLMULQDQ $0x11, X4, X5
	PXOR X5, X1
	PXOR X1, X2
	MOVOA X2, X5
	PCLMULQDQ $0x00, X4, X2
	PCLMULQDQ $0x11, X4, X5
	PXOR X5, X2
	PXOR X2, X3

loop16:
	CMPQ CX, $16
	JB   done
	MOVOA X3, X5
	PCLMULQDQ $0x00, X4, X3
	PCLMULQDQ $0x11, X4, X5
	PXOR X5, X3
	MOVOU 0(SI), X9
	PXOR X9, X3
	ADDQ $16, SI
	SUBQ $16, CX
	JMP  loop16

done:
	MOVQ    X3, AX
	PSRLDQ  $8, X3
	MOVQ    X3, BX
	MOVQ    AX, lo+40(FP)
	MOVQ    BX, hi+48(FP)
	RET

// func cpuHasCLMUL() bool
TEXT ·cpuHasCLMUL(SB), NOSPLIT, $0-1
	MOVL  $1, AX
	XORL  CX, CX
	CPUID
	SHRL  $1, CX
	ANDL  $1, CX
	MOVB  CX, ret+0(FP)
	RET
