/*
 * vr_fault.h - named crash points for the kill -9 tests.
 *
 * When the environment variable VIREO_FAULT_POINT equals the name given to
 * vr_fault_point(), the process kills itself with SIGKILL right there, as
 * an operator's `kill -9` at that instant would.  Names are
 * "<op>.<phase>" (state persisted, action not yet taken) and
 * "<op>.finish" (action taken, result not yet persisted).
 *
 * VIREO_FAULT_HANG names a point where the calling thread instead sleeps
 * for VIREO_FAULT_HANG_S seconds (default 30): a stuck operation, for the
 * recover tests.
 */
#ifndef VR_FAULT_H
#define VR_FAULT_H

void vr_fault_point(const char *name);

#endif
