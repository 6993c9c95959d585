//! previz-core
