"""The ctypes binding of libremsess's public C ABI (include/remsess/*.h).

Structures mirror the public structs field for field; tests/python/test_layout.py
compares their sizes and offsets with what a C compiler makes of the headers.
Everything here is private: the Pythonic API lives in the other modules.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char_p, c_double, c_float, c_int,
                    c_int8, c_int16, c_int32, c_int64, c_long, c_short, c_size_t, c_uint,
                    c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)

__all__ = ["lib", "LIBRARY_PATH"]

# The newest options version this binding knows; session_options_version() is what the
# loaded library accepts (an older library reads only its version's bytes).
SESSION_OPTIONS_VERSION = 4
STATS_VERSION = 1
FANOUT_OPTIONS_VERSION = 1

# Codes that are results, not failures.
OK = 0
ITEROVER = -1
EAGAIN = -2

POLL_IN = 0x1
POLL_OUT = 0x4

c_enum = c_int  # C enums without negative or huge members are int-sized (SysV ABI)


# ---- structs ---------------------------------------------------------------------------

class _Cim(Structure):
    _fields_ = [
        ("cim_namespace", c_char_p),
        ("test_connection", c_bool),
        ("max_elements", c_uint32),
        ("no_schema", c_bool),
    ]


class _PSSession(Structure):
    _fields_ = [
        ("max_received_per_command", c_uint64),
        ("max_received_object_size", c_uint64),
        ("shell_uri", c_char_p),
        ("working_directory", c_char_p),
        ("no_profile", c_bool),
        ("codepage", c_uint32),
        ("idle_timeout_ms", c_uint32),
    ]


class _Ssh(Structure):
    _fields_ = [
        ("identity_file", c_char_p),
        ("known_hosts", c_char_p),
        ("accept_new_host_key", c_bool),
        ("use_agent", c_bool),
    ]


class _PSSessionV2(Structure):
    _fields_ = [
        ("protocol", c_enum),
        ("min_runspaces", c_uint32),
        ("max_runspaces", c_uint32),
        ("ssh_subsystem", c_char_p),
    ]


class _AuthV3(Structure):
    _fields_ = [
        ("encryption", c_enum),
        ("spn_service", c_char_p),
        ("spn_host", c_char_p),
        ("delegate", c_bool),
        ("keytab", c_char_p),
        ("no_channel_binding", c_bool),
    ]


class _TimeoutsV4(Structure):
    _fields_ = [("open_timeout_ms", c_uint32)]


LOG_FN = CFUNCTYPE(None, c_enum, c_char_p, c_void_p)


class SessionOptions(Structure):
    """rms_session_options, version 4."""
    _fields_ = [
        ("version", c_uint),
        ("url", c_char_p),
        ("host", c_char_p),
        ("scheme", c_enum),
        ("port", c_uint),
        ("path", c_char_p),
        ("transport", c_enum),
        ("user", c_char_p),
        ("password", c_char_p),
        ("auth", c_enum),
        ("client_cert", c_char_p),
        ("client_key", c_char_p),
        ("ca_file", c_char_p),
        ("ca_path", c_char_p),
        ("tls_insecure", c_bool),
        ("allow_unencrypted", c_bool),
        ("proxy", c_char_p),
        ("connect_timeout_ms", c_uint32),
        ("operation_timeout_ms", c_uint32),
        ("max_envelope_size", c_uint32),
        ("locale", c_char_p),
        ("data_locale", c_char_p),
        ("log", LOG_FN),
        ("log_userdata", c_void_p),
        ("log_level", c_enum),
        ("cim", _Cim),
        ("pssession", _PSSession),
        ("ssh", _Ssh),
        ("pssession_v2", _PSSessionV2),
        ("auth_v3", _AuthV3),
        ("timeouts_v4", _TimeoutsV4),
    ]


class Datetime(Structure):
    """rms_datetime."""
    _fields_ = [
        ("is_interval", c_bool),
        ("year", c_int),
        ("month", c_int),
        ("day", c_int),
        ("days", c_uint32),
        ("hour", c_int),
        ("minute", c_int),
        ("second", c_int),
        ("nanoseconds", c_uint32),
        ("frac_digits", c_int),
        ("utc_offset", c_int),
        ("tz_form", c_enum),
        ("wildcards", c_uint),
    ]


class Stats(Structure):
    """rms_stats, version 1."""
    _fields_ = [("version", c_uint)] + [(name, c_uint64) for name in (
        "connections_opened", "connections_open", "requests", "round_trips", "bytes_sent",
        "bytes_received", "largest_request", "shells_opened", "shells_open", "operations")]


class Chunk(Structure):
    """rms_chunk."""
    _fields_ = [("stream", c_enum), ("data", c_void_p), ("len", c_size_t)]


class Msg(Structure):
    """rms_msg."""
    _fields_ = [("kind", c_enum), ("op", c_void_p), ("session", c_void_p), ("result", c_int)]


class WaitFd(Structure):
    """rms_waitfd."""
    _fields_ = [("fd", c_int), ("events", c_short)]


class SideReport(Structure):
    """rms_side_report."""
    _fields_ = [
        ("backend", c_enum),
        ("status", c_int),
        ("error", c_void_p),
        ("duration_us", c_uint64),
        ("traffic", Stats),
        ("items", c_uint64),
        ("limit_hit", c_char_p),
        ("session_created", c_bool),
        ("failed_at_creation", c_bool),
    ]


class FanoutOptions(Structure):
    """rms_fanout_options, version 1."""
    _fields_ = [
        ("version", c_uint),
        ("throttle", c_uint),
        ("target_timeout_ms", c_uint32),
        ("run_timeout_ms", c_uint32),
    ]


STDIN_FN = CFUNCTYPE(c_long, c_void_p, c_size_t, c_void_p)
OUTPUT_FN = CFUNCTYPE(c_int, c_enum, c_void_p, c_size_t, c_void_p)

# ---- loading ---------------------------------------------------------------------------

_SONAME = "libremsess.so.0"


def _candidates() -> Iterator[tuple[str, str]]:
    """(where the name came from, name or path) in the order they are tried.

    A generator: ctypes.util.find_library runs ldconfig, gcc, ld or objdump in child
    processes (about 0.1-0.3 s), so it is asked only when the earlier places failed.
    """
    env = os.environ.get("REMSESS_LIBRARY")
    if env:
        yield ("REMSESS_LIBRARY", env)
    yield ("bundled copy", os.path.join(os.path.dirname(os.path.abspath(__file__)), "_lib",
                                        _SONAME))
    found = ctypes.util.find_library("remsess")
    if found:
        yield ("ctypes.util.find_library('remsess')", found)
    yield ("the dynamic loader's search path", _SONAME)


def _load() -> tuple[ctypes.CDLL, str]:
    tried = []
    for origin, name in _candidates():
        if os.sep in name and not os.path.exists(name):
            tried.append(f"{origin}: {name} (no such file)")
            if origin == "REMSESS_LIBRARY":
                # An explicit choice that is wrong is an error, not a hint to look elsewhere.
                break
            continue
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            tried.append(f"{origin}: {name} ({e})")
            if origin == "REMSESS_LIBRARY":
                break
    raise ImportError("remsess: could not load the C library libremsess.so.0; tried:\n  "
                      + "\n  ".join(tried)
                      + "\nSet REMSESS_LIBRARY to the path of libremsess.so.0, or install the "
                        "package with the library bundled (docs/python.md).")


lib, LIBRARY_PATH = _load()

# ---- prototypes ------------------------------------------------------------------------

P = c_void_p          # every opaque handle
PP = POINTER(c_void_p)
S = c_char_p
_i, _u, _sz, _b = c_int, c_uint, c_size_t, c_bool

_PROTOTYPES: dict[str, tuple] = {
    # remsess.h, common.h
    "rms_global_init": (_i,),
    "rms_version": (S,),
    "rms_features": (POINTER(c_char_p),),
    "rms_backend_name": (S, c_enum),
    "rms_backend_parse": (_i, POINTER(c_enum), S),
    "rms_free": (None, P),
    # error.h
    "rms_error_last": (P,),
    "rms_error_clear": (None,),
    "rms_error_dup": (P, P),
    "rms_error_free": (None, P),
    "rms_error_code_name": (S, _i),
    "rms_error_code_message": (S, _i),
    "rms_phase_name": (S, c_enum),
    "rms_error_code": (_i, P),
    "rms_error_message": (S, P),
    "rms_error_phase": (c_enum, P),
    "rms_error_backend": (c_enum, P),
    "rms_error_field": (S, P),
    "rms_error_http_status": (_i, P),
    "rms_error_os_errno": (_i, P),
    "rms_error_fault_code": (S, P),
    "rms_error_fault_subcode": (S, P),
    "rms_error_fault_reason": (S, P),
    "rms_error_fault_detail": (S, P),
    "rms_error_wsman_code": (c_uint32, P),
    "rms_error_wsman_message": (S, P),
    "rms_error_machine": (S, P),
    "rms_error_wmi_code": (c_uint32, P),
    "rms_error_cim_status": (c_uint32, P),
    "rms_error_provider": (S, P),
    "rms_error_limit_name": (S, P),
    "rms_error_limit_value": (c_uint64, P),
    "rms_error_limit_actual": (c_uint64, P),
    "rms_error_ssh_code": (_i, P),
    "rms_error_items_delivered": (c_uint64, P),
    # options.h
    "rms_auth_name": (S, c_enum),
    "rms_auth_parse": (_i, POINTER(c_enum), S),
    "rms_encryption_parse": (_i, POINTER(c_enum), S),
    "rms_ps_protocol_name": (S, c_enum),
    "rms_ps_protocol_parse": (_i, POINTER(c_enum), S),
    "rms_session_options_init": (_i, POINTER(SessionOptions), _u),
    "rms_session_options_validate": (_i, POINTER(SessionOptions), c_enum),
    # session.h
    "rms_session_state_name": (S, c_enum),
    "rms_session_new": (_i, PP, c_enum, POINTER(SessionOptions)),
    "rms_session_close": (_i, P),
    "rms_session_free": (None, P),
    "rms_session_backend": (c_enum, P),
    "rms_session_state_get": (c_enum, P),
    "rms_session_id": (c_uint32, P),
    "rms_session_name": (S, P),
    "rms_session_set_name": (_i, P, S),
    "rms_session_instance_id": (S, P),
    "rms_session_computer_name": (S, P),
    "rms_session_protocol": (S, P),
    "rms_session_ps_protocol": (c_enum, P),
    "rms_session_endpoint": (S, P),
    "rms_session_broken_reason": (P, P),
    "rms_session_stats": (_i, P, POINTER(Stats)),
    "rms_session_check": (_i, P, PP),
    "rms_session_shells": (_i, P, POINTER(P), POINTER(c_size_t)),
    "rms_session_shell_commands": (_i, P, S, POINTER(P), POINTER(c_size_t)),
    "rms_session_disconnect": (_i, P, c_uint32),
    "rms_session_reconnect": (_i, P),
    "rms_session_connect": (_i, PP, POINTER(SessionOptions), S),
    "rms_session_receive": (_i, PP, P, S),
    "rms_session_shell_id": (S, P),
    "rms_op_command_id": (S, P),
    # operation.h
    "rms_op_kind_name": (S, c_enum),
    "rms_ps_stream_name": (S, c_enum),
    "rms_ps_record_message": (S, P),
    "rms_request_new": (_i, PP, c_enum),
    "rms_request_free": (None, P),
    "rms_request_set_namespace": (_i, P, S),
    "rms_request_set_class": (_i, P, S),
    "rms_request_set_ref": (_i, P, P),
    "rms_request_set_query": (_i, P, S, S),
    "rms_request_set_method": (_i, P, S),
    "rms_request_set_input": (_i, P, P),
    "rms_request_set_association": (_i, P, S, S, S, S),
    "rms_request_set_command": (_i, P, S, _sz, POINTER(c_char_p)),
    "rms_request_set_stdin": (_i, P, c_void_p, _sz),
    "rms_request_set_stdin_fn": (_i, P, STDIN_FN, c_void_p),
    "rms_request_set_output_fn": (_i, P, OUTPUT_FN, c_void_p),
    "rms_request_set_script": (_i, P, S),
    "rms_request_add_command": (_i, P, S),
    "rms_request_add_parameter": (_i, P, S, P),
    "rms_request_merge_errors": (_i, P),
    "rms_request_add_input": (_i, P, P),
    "rms_request_set_timeout": (_i, P, c_uint32),
    "rms_op_start": (_i, PP, P, P),
    "rms_op_next": (_i, P, PP),
    "rms_op_next_chunk": (_i, P, POINTER(Chunk)),
    "rms_op_next_object": (_i, P, POINTER(c_enum), PP),
    "rms_op_error_record": (P, P),
    "rms_op_wait": (_i, P),
    "rms_op_result": (P, P),
    "rms_op_created": (P, P),
    "rms_op_class": (P, P),
    "rms_op_exit_code": (_i, P, POINTER(c_int)),
    "rms_op_cancel": (None, P),
    "rms_op_error": (P, P),
    "rms_op_backend": (c_enum, P),
    "rms_op_reason": (S, P),
    "rms_op_delivered": (c_uint64, P),
    "rms_op_skipped": (c_uint64, P),
    "rms_op_free": (None, P),
    "rms_cim_class_free": (None, P),
    "rms_cim_class_name": (S, P),
    "rms_cim_class_superclass": (S, P),
    "rms_cim_class_property_count": (_sz, P),
    "rms_cim_class_property_at": (_i, P, _sz, POINTER(c_char_p), POINTER(c_enum), POINTER(c_uint)),
    "rms_cim_class_method_count": (_sz, P),
    "rms_cim_class_method_at": (S, P, _sz),
    # value.h
    "rms_type_name": (S, c_enum),
    "rms_type_parse": (_i, POINTER(c_enum), S),
    "rms_datetime_parse_dmtf": (_i, POINTER(Datetime), S),
    "rms_datetime_format_dmtf": (_i, POINTER(Datetime), c_void_p, _sz),
    "rms_datetime_parse_xs": (_i, POINTER(Datetime), S),
    "rms_datetime_format_xs": (_i, POINTER(Datetime), c_void_p, _sz),
    "rms_datetime_equal": (_b, POINTER(Datetime), POINTER(Datetime)),
    "rms_ref_new": (_i, PP, S, S),
    "rms_ref_free": (None, P),
    "rms_ref_dup": (_i, PP, P),
    "rms_ref_add_selector": (_i, P, S, S),
    "rms_ref_add_selector_ref": (_i, P, S, P),
    "rms_ref_set_address": (_i, P, S),
    "rms_ref_set_resource_uri": (_i, P, S),
    "rms_ref_namespace": (S, P),
    "rms_ref_class_name": (S, P),
    "rms_ref_address": (S, P),
    "rms_ref_resource_uri": (S, P),
    "rms_ref_selector_count": (_sz, P),
    "rms_ref_selector_at": (_i, P, _sz, POINTER(c_char_p), POINTER(c_char_p), PP),
    "rms_ref_selector": (S, P, S),
    "rms_ref_equal": (_b, P, P),
    "rms_value_new_null": (_i, PP, c_enum),
    "rms_value_new_boolean": (_i, PP, _b),
    "rms_value_new_uint8": (_i, PP, c_uint8),
    "rms_value_new_sint8": (_i, PP, c_int8),
    "rms_value_new_uint16": (_i, PP, c_uint16),
    "rms_value_new_sint16": (_i, PP, c_int16),
    "rms_value_new_uint32": (_i, PP, c_uint32),
    "rms_value_new_sint32": (_i, PP, c_int32),
    "rms_value_new_uint64": (_i, PP, c_uint64),
    "rms_value_new_sint64": (_i, PP, c_int64),
    "rms_value_new_real32": (_i, PP, c_float),
    "rms_value_new_real64": (_i, PP, c_double),
    "rms_value_new_char16": (_i, PP, c_uint16),
    "rms_value_new_string": (_i, PP, S),
    "rms_value_new_string_len": (_i, PP, c_void_p, _sz),
    "rms_value_new_datetime": (_i, PP, POINTER(Datetime)),
    "rms_value_new_reference": (_i, PP, P),
    "rms_value_new_instance": (_i, PP, P),
    "rms_value_new_decimal": (_i, PP, S),
    "rms_value_new_guid": (_i, PP, S),
    "rms_value_new_timespan": (_i, PP, c_int64),
    "rms_value_new_version": (_i, PP, S),
    "rms_value_new_uri": (_i, PP, S),
    "rms_value_new_xml": (_i, PP, S),
    "rms_value_new_scriptblock": (_i, PP, S),
    "rms_value_new_bytes": (_i, PP, c_void_p, _sz),
    "rms_value_new_object": (_i, PP, P),
    "rms_value_new_array": (_i, PP, c_enum),
    "rms_value_array_append": (_i, P, P),
    "rms_value_from_text": (_i, PP, c_enum, S),
    "rms_value_free": (None, P),
    "rms_value_dup": (_i, PP, P),
    "rms_value_type": (c_enum, P),
    "rms_value_is_null": (_b, P),
    "rms_value_get_boolean": (_i, P, POINTER(c_bool)),
    "rms_value_get_uint8": (_i, P, POINTER(c_uint8)),
    "rms_value_get_sint8": (_i, P, POINTER(c_int8)),
    "rms_value_get_uint16": (_i, P, POINTER(c_uint16)),
    "rms_value_get_sint16": (_i, P, POINTER(c_int16)),
    "rms_value_get_uint32": (_i, P, POINTER(c_uint32)),
    "rms_value_get_sint32": (_i, P, POINTER(c_int32)),
    "rms_value_get_uint64": (_i, P, POINTER(c_uint64)),
    "rms_value_get_sint64": (_i, P, POINTER(c_int64)),
    "rms_value_get_real32": (_i, P, POINTER(c_float)),
    "rms_value_get_real64": (_i, P, POINTER(c_double)),
    "rms_value_get_char16": (_i, P, POINTER(c_uint16)),
    "rms_value_get_datetime": (_i, P, POINTER(Datetime)),
    "rms_value_get_string": (_i, P, POINTER(c_void_p)),
    "rms_value_get_reference": (_i, P, PP),
    "rms_value_get_instance": (_i, P, PP),
    "rms_value_get_text": (_i, P, POINTER(c_void_p)),
    "rms_value_get_timespan": (_i, P, POINTER(c_int64)),
    "rms_value_get_bytes": (_i, P, PP, POINTER(c_size_t)),
    "rms_value_get_object": (_i, P, PP),
    "rms_value_as_int64": (_i, P, POINTER(c_int64)),
    "rms_value_as_uint64": (_i, P, POINTER(c_uint64)),
    "rms_value_array_length": (_sz, P),
    "rms_value_array_at": (P, P, _sz),
    "rms_value_equal": (_b, P, P),
    "rms_value_to_text": (_i, PP, P),
    "rms_value_to_json": (_i, PP, P),
    "rms_value_to_display": (_i, PP, P),
    "rms_psobject_new": (_i, PP),
    "rms_psobject_free": (None, P),
    "rms_psobject_add_type_name": (_i, P, S),
    "rms_psobject_type_name_count": (_sz, P),
    "rms_psobject_type_name_at": (S, P, _sz),
    "rms_psobject_set_to_string": (_i, P, S),
    "rms_psobject_to_string": (S, P),
    "rms_psobject_set_base": (_i, P, P),
    "rms_psobject_base": (P, P),
    "rms_psobject_set_collection": (_i, P, c_enum),
    "rms_psobject_collection": (c_enum, P),
    "rms_psobject_append": (_i, P, P),
    "rms_psobject_append_entry": (_i, P, P, P),
    "rms_psobject_length": (_sz, P),
    "rms_psobject_item_at": (_i, P, _sz, PP, PP),
    "rms_psobject_set": (_i, P, S, P, _u),
    "rms_psobject_count": (_sz, P),
    "rms_psobject_at": (_i, P, _sz, POINTER(c_char_p), PP, POINTER(c_uint)),
    "rms_psobject_get": (P, P, S),
    "rms_instance_new": (_i, PP, S, S),
    "rms_instance_free": (None, P),
    "rms_instance_dup": (_i, PP, P),
    "rms_instance_class_name": (S, P),
    "rms_instance_namespace": (S, P),
    "rms_instance_ref": (P, P),
    "rms_instance_set_ref": (_i, P, P),
    "rms_instance_set": (_i, P, S, P, _u),
    "rms_instance_count": (_sz, P),
    "rms_instance_at": (_i, P, _sz, POINTER(c_char_p), PP, POINTER(c_uint)),
    "rms_instance_get": (P, P, S),
    "rms_instance_equal": (_b, P, P),
    "rms_instance_to_json": (_i, PP, P),
    "rms_instance_to_text": (_i, PP, P),
    # target.h, compare.h
    "rms_target_new": (_i, PP, POINTER(SessionOptions), POINTER(SessionOptions)),
    "rms_target_free": (None, P),
    "rms_target_choose": (_i, POINTER(c_enum), POINTER(c_char_p), P, c_enum, c_enum),
    "rms_target_start": (_i, PP, P, c_enum, P),
    "rms_target_session": (_i, PP, P, c_enum),
    "rms_compare": (_i, PP, P, P),
    "rms_comparison_free": (None, P),
    "rms_comparison_equal": (_b, P),
    "rms_comparison_where": (S, P),
    "rms_comparison_cim_value": (S, P),
    "rms_comparison_pssession_value": (S, P),
    "rms_comparison_side": (POINTER(SideReport), P, c_enum),
    "rms_comparison_to_json": (_i, PP, P),
    # engine.h
    "rms_multi_new": (_i, PP),
    "rms_multi_free": (None, P),
    "rms_multi_start": (_i, PP, P, P, P),
    "rms_multi_open": (_i, PP, P, c_enum, POINTER(SessionOptions)),
    "rms_multi_close": (_i, P, P),
    "rms_multi_waitset": (_i, P, POINTER(WaitFd), _sz, POINTER(c_size_t), POINTER(c_int)),
    "rms_multi_perform": (_i, P, POINTER(c_size_t)),
    "rms_multi_poll": (_i, P, _i, POINTER(c_size_t)),
    "rms_multi_wakeup": (_i, P),
    "rms_multi_info_read": (_i, P, POINTER(Msg)),
    "rms_multi_remove": (_i, P, P),
    # fanout.h
    "rms_fanout_options_init": (_i, POINTER(FanoutOptions), _u),
    "rms_fanout_new": (_i, PP, P, POINTER(FanoutOptions)),
    "rms_fanout_add": (_i, POINTER(c_size_t), P, P, c_enum),
    "rms_fanout_add_request": (_i, POINTER(c_size_t), P, P),
    "rms_fanout_add_compare": (_i, POINTER(c_size_t), P, P),
    "rms_fanout_result_request": (_sz, P),
    "rms_fanout_result_comparison": (P, P),
    "rms_fanout_next": (_i, PP, P),
    "rms_fanout_waitset": (_i, P, POINTER(WaitFd), _sz, POINTER(c_size_t), POINTER(c_int)),
    "rms_fanout_perform": (_i, P, POINTER(c_size_t)),
    "rms_fanout_poll": (_i, P, _i, POINTER(c_size_t)),
    "rms_fanout_multi": (P, P),
    "rms_fanout_free": (None, P),
    "rms_fanout_result_free": (None, P),
    "rms_fanout_result_index": (_sz, P),
    "rms_fanout_result_target": (P, P),
    "rms_fanout_result_backend": (c_enum, P),
    "rms_fanout_result_reason": (S, P),
    "rms_fanout_result_status": (_i, P),
    "rms_fanout_result_error": (P, P),
    "rms_fanout_result_instance_count": (_sz, P),
    "rms_fanout_result_instance": (P, P, _sz),
    "rms_fanout_result_object_count": (_sz, P),
    "rms_fanout_result_object": (P, P, _sz, POINTER(c_enum)),
    "rms_fanout_result_error_record": (P, P),
    "rms_fanout_result_output": (c_void_p, P, c_enum, POINTER(c_size_t)),
    "rms_fanout_result_exit_code": (_i, P, POINTER(c_int)),
    "rms_fanout_result_started_ms": (c_uint64, P),
    "rms_fanout_result_ended_ms": (c_uint64, P),
    "rms_fanout_result_stats": (_i, P, POINTER(Stats)),
}


# Symbols every use of the package needs; a library without them is refused at import.
_REQUIRED = ("rms_version", "rms_error_last", "rms_session_options_init", "rms_session_new",
             "rms_op_start", "rms_op_next", "rms_value_type", "rms_instance_at")
MISSING: list[str] = []


class _Missing:
    """Stands in for a function an older library lacks: calling it says so."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args):
        raise NotImplementedError(f"{LIBRARY_PATH} has no {self.name}(): the library is older "
                                  f"than this binding; rebuild it from the same tree")


def _declare() -> None:
    for name, (restype, *argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            if name in _REQUIRED:
                raise ImportError(f"{LIBRARY_PATH} is not a usable libremsess: no {name}()") from None
            MISSING.append(name)
            setattr(lib, name, _Missing(name))
            continue
        fn.restype = restype
        fn.argtypes = argtypes


_declare()


def _options_version() -> int:
    """The newest options version both this binding and the loaded library know."""
    probe = SessionOptions()
    for v in range(SESSION_OPTIONS_VERSION, 0, -1):
        if lib.rms_session_options_init(ctypes.byref(probe), v) == 0:
            return v
    raise ImportError(f"{LIBRARY_PATH} accepts no rms_session_options version up to "
                      f"{SESSION_OPTIONS_VERSION}")


OPTIONS_VERSION = _options_version()


def s(b: bytes | None) -> str | None:
    """A borrowed C string as str (UTF-8; NULL is None)."""
    return None if b is None else b.decode("utf-8", "surrogateescape")


def enc(text: str | None) -> bytes | None:
    """A str as a C string argument (None is NULL)."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    if "\0" in text:
        raise ValueError("a string passed to remsess may not contain NUL")
    return text.encode("utf-8")


def take_string(ptr: c_void_p) -> str:
    """A string the library handed out (rms_free'd here, exactly once)."""
    try:
        return ctypes.string_at(ptr).decode("utf-8", "surrogateescape")
    finally:
        lib.rms_free(ptr)
