//! previz-storage
