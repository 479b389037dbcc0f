//! The SFTP subsystem, decided per file operation (sluice-sftp reads the packets).

use sluice_core::Session;

use super::session::TargetWriter;
use crate::error::SshError;

#[derive(Default)]
pub(crate) struct SftpRelay {}

impl SftpRelay {
    pub async fn client_data(
        &mut self,
        _session: &Session,
        _data: &[u8],
        _writer: &mut TargetWriter,
    ) -> Result<Vec<u8>, SshError> {
        Err(SshError::Refused("sluice: SFTP is not carried yet".into()))
    }
    pub fn target_data(&mut self, _session: &Session, _data: &[u8]) -> Result<(), SshError> {
        Ok(())
    }
    pub fn end(&mut self, _session: &Session) {}
}
